"""MetaBuilder's node types: the function-style operations and the class-based executors."""
