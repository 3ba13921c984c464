from cog import Input

def fit(n: int) -> str:
    return str(n)
