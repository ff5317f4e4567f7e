"""The error the shared camera logic raises for bad values: fallkd's UsageError (a ValueError) inside fallkd_lib,
plain ValueError in the deploy bundle, where fallkd_lib is not installed."""

if __name__.startswith("fallkd_lib."):
    from fallkd_lib.errors import UsageError
else:  # the bundle's copy (fallkd_edge.errors)
    UsageError = ValueError

__all__ = ["UsageError"]
