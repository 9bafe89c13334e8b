"""Slack: a Slack app's bot in a workspace's channels (Socket Mode or the Events API, through slack-bolt)."""

from shequn.connectors.slack.connector import SlackConnector

__all__ = ["SlackConnector"]
