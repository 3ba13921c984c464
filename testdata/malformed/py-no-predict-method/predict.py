from cog import BasePredictor

class Predictor(BasePredictor):
    def setup(self):
        pass
