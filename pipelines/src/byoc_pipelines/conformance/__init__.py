"""``conformance IMAGE``: any local image run as SageMaker runs it, checked against the container contract.

:mod:`catalog` lists every check with its limit and AWS source; :mod:`runner` runs them: :mod:`training` (T1-T6),
:mod:`serving` and :mod:`ports` (S1-S7), :mod:`batch`, :mod:`multimodel`, :mod:`serverless`, each on containers
of a :mod:`sandbox` (a generated /opt/ml, a network, labelled containers removed at the end), fed by
:mod:`inputs` (the image's descriptor or generic inputs), talking HTTP over :mod:`wire` and reading the
containers' processes and sockets through :mod:`procfs`; :mod:`report` writes the table, JUnit XML and JSON.
"""
