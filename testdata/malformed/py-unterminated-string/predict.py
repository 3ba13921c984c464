from cog import BasePredictor

class Predictor(BasePredictor):
    def run(self, s: str = "abc) -> str:
        return s
