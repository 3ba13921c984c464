from cog import BasePredictor

class Predictor(BasePredictor):
    def run(self, s str) -> str:
        return s
