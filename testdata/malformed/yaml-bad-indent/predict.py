from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def run(self, s: str) -> str:
        return s
