from cog import Input

def train(n: Tensor) -> str:
    return str(n)
