"""The Discord connector (``platform: discord``): a bot user on Discord's gateway and REST API through discord.py."""

from shequn.connectors.discord.events import PLATFORM

__all__ = ["PLATFORM"]
