"""The WhatsApp Cloud API channel (the edge, like bot/telegram.py)."""
