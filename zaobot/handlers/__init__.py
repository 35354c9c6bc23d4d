"""Platform adapters (Telegram, WeChat) and the shared conversation core."""
