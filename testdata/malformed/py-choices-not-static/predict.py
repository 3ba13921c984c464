from cog import BasePredictor, Input

class Predictor(BasePredictor):
    def run(self, s: str = Input(choices=make_choices())) -> str:
        return s
