"""The law as data: read, check and describe rule-set folders."""

from rolwijzer.rules.loader import RuleSetError, load_rule_set, rule_set_sha256
from rolwijzer.rules.model import (
    STAGE_IDS,
    CodeDef,
    CodeKind,
    FactDef,
    FactType,
    Rule,
    RuleSet,
    Text,
    conflict_code,
)
from rolwijzer.rules.validate import Problem

__all__ = [
    "STAGE_IDS",
    "CodeDef",
    "CodeKind",
    "FactDef",
    "FactType",
    "Problem",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "Text",
    "conflict_code",
    "load_rule_set",
    "rule_set_sha256",
]
