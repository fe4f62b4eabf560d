"""Model adapters to p(.|x) and the LightningModule."""

from sua_exp.models.choice_encoder import ChoiceClassifier
from sua_exp.models.encoders import TextClassifier, resolve_pretrained
from sua_exp.models.module import SUAModule
from sua_exp.models.schedules import linear_warmup_decay

__all__ = ["ChoiceClassifier", "SUAModule", "TextClassifier", "linear_warmup_decay", "resolve_pretrained"]
