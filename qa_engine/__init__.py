"""qa-engine: quality inspection of Chinese customer-service calls and chats."""

__version__ = "0.1.0"
