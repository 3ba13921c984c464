from cog import BasePredictor

class Predictor(BasePredictor):
    def run(self, s: str) -> str:
        x = 1
      return s
