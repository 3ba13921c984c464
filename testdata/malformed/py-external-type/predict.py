from cog import BasePredictor
from mypackage import Output

class Predictor(BasePredictor):
    def run(self, s: str) -> Output:
        return s
