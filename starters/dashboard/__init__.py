"""The dashboard: one page and its script and style sheet, shipped in the package (no build
step). The page holds no data; its script reads the app's API with the function key."""
