"""The validator process (`aivm validator`) and the node's local validators."""
