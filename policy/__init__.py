"""The county-cloud policy pack: MLPS 2.0 level-3 (等保2.0 第三级) rules for the stacks."""
