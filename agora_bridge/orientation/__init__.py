"""The orientation API's core (`../shared/spec/ouiform.md`): the orientation, its state
machine and motifs, the body rules, working days and the 3-working-day rule. No I/O."""
