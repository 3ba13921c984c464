import cog
from cog import BasePredictor

class Predictor(BasePredictor):
    @cog.concurrent(max=0)
    async def run(self, s: str) -> str:
        return s
