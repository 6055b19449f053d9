"""The project's TFDS builders, one folder each (installed as `tf_deepgifs_datasets`).

`tfds build datasets/<name>` builds one from a checkout; `python -m tf_deepgifs data`
builds one from anywhere the project is installed.
"""
