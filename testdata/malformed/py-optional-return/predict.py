from typing import Optional
from cog import BasePredictor

class Predictor(BasePredictor):
    def run(self, s: str) -> Optional[str]:
        return s
