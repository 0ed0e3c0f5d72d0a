"""Enterprise profiles (企业画像): reading, validating and normalising them at the edge."""

from profiles.read import ReadReport, profiles_frame, read_profiles

__all__ = ["ReadReport", "profiles_frame", "read_profiles"]
