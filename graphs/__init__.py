"""Graph factories: `build_<name>_graph(...)` returning compiled LangGraph graphs."""
