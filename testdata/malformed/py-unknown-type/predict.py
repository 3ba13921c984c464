from cog import BasePredictor

class Predictor(BasePredictor):
    def run(self, s: Foo) -> str:
        return s
