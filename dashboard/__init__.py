"""The operator's dashboard (installed as ``pyramid_elasticjobs.dashboard``)."""
