"""The file formats passed between pipeline stages, one module each (schema, writer and reader together).

* :mod:`replication.artifacts.metrics_table`: the tidy per-image metrics table, and the one ``summarise``
  used by the report and by the regression gate;
* :mod:`replication.artifacts.layout`: where stages put their outputs (``results/<model>/<dataset>``,
  ``runs/<variant>-s<seed>/{net,gan}``);
* :mod:`replication.artifacts.runs`: which runs a profile trains and what runs and models are called.

The prepared training shards live in :mod:`replication.data.subimages` and the model file in
:mod:`replication.archs.checkpoint`.
"""
