"""Campaign summary rounds (工作总结): the office asks the member units for a written summary
of a period, each unit submits its own, the office compiles them with the figures into one
numbered document."""
