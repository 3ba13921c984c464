from cog import Input

def train(n: int = Input(default=1) -> str:
    return str(n)
