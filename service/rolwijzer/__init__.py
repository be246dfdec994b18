"""Rolwijzer: decides the role, liability and obligations of a helper in Dutch informal care."""
