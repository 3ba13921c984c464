from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def run(self, s: str = Input(accept="image/*")) -> str:
        return s
