// PEP 440 versions and specifiers live in Support (the cache's allow/deny lists use them too);
// re-exported so Prefetch's files and its users see them as before.
@_exported import Support
