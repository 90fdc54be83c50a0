"""The configuration: a YAML file read into typed settings, checked on load."""

from pop3d.config.errors import ConfigError
from pop3d.config.loader import load_config
from pop3d.config.model import Config

__all__ = ["Config", "ConfigError", "load_config"]
