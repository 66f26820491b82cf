"""Stacks: the global control-plane stack (primary region); regional data-plane stacks come later."""
