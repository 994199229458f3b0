"""The one error a bad setting raises (a leaf module, so every rule module can import it)."""


class SettingsError(ValueError):
    """A setting has a value the platform cannot be built with."""

    def __init__(self, setting: str, problem: str):
        super().__init__(f"invalid setting {setting}: {problem}")
        self.setting = setting
