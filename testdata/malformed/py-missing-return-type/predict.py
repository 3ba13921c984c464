from cog import BasePredictor

class Predictor(BasePredictor):
    def run(self, s: str):
        return s
