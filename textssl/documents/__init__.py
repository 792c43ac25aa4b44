"""The page level: document generation, page LMDBs and their formats, classification, detection, reading."""
