"""The law as data: read, check and describe rule-set folders."""

from rolwijzer.rules.loader import (
    RuleSetError,
    find_rule_set_folders,
    load_rule_set,
    load_rule_sets,
    rule_set_sha256,
)
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
    version_key,
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
    "find_rule_set_folders",
    "load_rule_set",
    "load_rule_sets",
    "rule_set_sha256",
    "version_key",
]
