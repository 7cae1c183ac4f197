"""Framework integrations (LangChain, LangGraph), imported only when used.

May import: everything but ``cli``.
"""
