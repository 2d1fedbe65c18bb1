"""SourceSelector: rank a pool of sources (featurizers) by transferability."""

# SPDX-License-Identifier: BSD-3-Clause

import time
import warnings
from numbers import Integral

import numpy as np
from scipy.stats import rankdata
from sklearn.base import MetaEstimatorMixin, TransformerMixin, _fit_context, clone
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils._repr_html.estimator import _VisualBlock
from sklearn.utils.metaestimators import _BaseComposition, available_if
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, check_memory, validate_data

from sktransfer.metrics import NCTI, ETran, LogME
from sktransfer.metrics._etran import _etran_combine
from sktransfer.metrics._ncti import _ncti_combine

__all__ = ["SourceSelector"]

_COMBINED = "combined"
# combine mode -> (metric class, combiner of a list of components_ dicts).
_ZOO_COMBINERS = {"etran": (ETran, _etran_combine), "ncti": (NCTI, _ncti_combine)}


def _fit_transform_one(source, X_fit, y_fit, X_apply):
    """Fit ``source`` on ``(X_fit, y_fit)``; return it and its features of X_apply.

    ``X_apply=None`` means ``X_fit`` (one ``fit_transform`` call). This is the
    function that ``memory`` caches.
    """
    if X_apply is None:
        return source, source.fit_transform(X_fit, y_fit)
    source.fit(X_fit, y_fit)
    return source, source.transform(X_apply)


def _source_error(name, exc):
    """The error of a failed source: same type, the name first, chained by caller."""
    message = f"Source {name!r} failed: {type(exc).__name__}: {exc}"
    try:
        error = type(exc)(message)
    except Exception:  # exceptions whose constructor takes other arguments
        error = RuntimeError(message)
    return error


def _score_source(name, source, X, y, metrics, splits, memory, keep_features, skip):
    """Extract one source's features and score every metric on them.

    Runs in a joblib worker: it returns only the scores (and the metrics'
    ``components_``), not the features, unless ``keep_features``. With
    ``splits``, the source is fitted on each training fold and the metrics on
    the features of the matching validation fold.
    """
    start = time.perf_counter()
    cached = memory.cache(_fit_transform_one)
    scores = {metric: [] for metric in metrics}
    components = {metric: [] for metric in metrics}
    features = None
    try:
        folds = [(None, None)] if splits is None else splits
        for train, test in folds:
            if train is None:
                _, F = cached(clone(source), X, y, None)
                y_test = y
                if keep_features:
                    features = F
            else:
                _, F = cached(
                    clone(source),
                    _safe_indexing(X, train),
                    _safe_indexing(y, train),
                    _safe_indexing(X, test),
                )
                y_test = _safe_indexing(y, test)
            for metric_name, metric in metrics.items():
                fitted = clone(metric).fit(F, y_test)
                scores[metric_name].append(float(fitted.score_))
                parts = getattr(fitted, "components_", None)
                components[metric_name].append(
                    None if parts is None else {k: float(v) for k, v in parts.items()}
                )
            del F
        if keep_features and splits is not None:
            features = cached(clone(source), X, y, None)[1]
    except Exception as exc:
        error = _source_error(name, exc)
        if not skip:
            raise error from exc
        error.__cause__ = exc
        return Bunch(name=name, error=error)
    return Bunch(
        name=name,
        error=None,
        scores=scores,
        components=components,
        features=features,
        time=time.perf_counter() - start,
    )


def _metric_names(estimators):
    """Names of a list of metrics: class names, numbered where they repeat."""
    names = [type(est).__name__ for est in estimators]
    counts = {name: names.count(name) for name in names}
    seen = {}
    out = []
    for name in names:
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name}-{seen[name]}"
        out.append(name)
    return out


def _final_estimator_has(attr):
    """Whether the final estimator (fitted if available) has ``attr``."""

    def check(self):
        if hasattr(self, "final_estimator_"):
            getattr(self.final_estimator_, attr)
        else:
            getattr(self.final_estimator, attr)
        return True

    return check


class SourceSelector(TransformerMixin, MetaEstimatorMixin, _BaseComposition):
    """Rank a pool of sources by the transferability of their features.

    Each source is a transformer (a
    :class:`~sktransfer.featurizers.TorchFeaturizer`, a
    :class:`~sklearn.preprocessing.FunctionTransformer` over precomputed
    features, a fitted pipeline...) that turns the target data ``X`` into
    features. ``fit(X, y)`` extracts the features of every source once, scores
    them with one or several transferability metrics, ranks the sources and
    keeps the winner. The selector is then a transformer that gives the
    winner's features and, with a ``final_estimator``, a model fitted on them.

    Parameters
    ----------
    sources : list of (str, transformer) tuples
        The candidate sources. Each is cloned and fitted with
        ``fit_transform(X, y)``. Their parameters are reachable as nested
        parameters ``<name>__<param>`` (e.g. ``resnet__layer``) through
        ``get_params`` and ``set_params``, as in
        :class:`~sklearn.ensemble.StackingClassifier`; ``set_params`` also
        accepts them as ``sources__<name>__<param>``.

    estimator : estimator, list of estimators or dict, default=None
        The transferability metric(s): one estimator, a list (named after
        their classes, numbered where a class repeats) or a dict mapping a
        name to an estimator. ``None`` means
        :class:`~sktransfer.metrics.LogME()`. Each is cloned and fitted on the
        features of each source; its ``score_`` is the value in ``scores_``.

    final_estimator : estimator, default=None
        Estimator fitted on the winning source's features of ``X``. It
        enables ``predict``, ``predict_proba``, ``decision_function`` (when it
        has them) and makes ``score`` its own score (accuracy for a
        classifier).

    combine : {"etran", "ncti", "mean_rank"}, callable or None, default=None
        How the metrics (or the components of one metric) become the single
        value that ranks the sources, stored in a ``"combined"`` column:

        - ``None``: no combination; the first metric ranks the sources;
        - ``"etran"``: the zoo-level ETran of the paper: the min-max normalised
          ``components_`` of the :class:`~sktransfer.metrics.ETran` metric
          (which must be among the metrics), weighted 0.85 / 0.15;
        - ``"ncti"``: the zoo-level NCTI, ``ncc + seli - vc`` after min-max
          normalisation of the :class:`~sktransfer.metrics.NCTI` components;
        - ``"mean_rank"``: the average over metrics of each source's rank in
          the pool, from 1 (worst) to ``n_sources`` (best);
        - a callable ``combine(scores) -> array of shape (n_sources,)`` where
          ``scores`` is a dict mapping each metric name to an array of its
          values over the pool (in the order of ``sources``); higher is
          better.

        These scores are relative to the pool: they exist only for a pool of
        sources (with one source every min-max normalised component is 0), and
        adding or removing a source changes every other source's value.

    cv : int, cross-validation generator, iterable or None, default=None
        ``None`` scores every metric on the features of all of ``X`` (the
        usual in-sample protocol of transferability estimation). Otherwise
        (as in :func:`~sklearn.model_selection.check_cv`, stratified for
        class labels), each source is fitted on each training fold and the
        metrics are computed on the features of the validation fold. The
        table holds the mean over folds and ``scores_std_`` the standard
        deviation, so that two sources within noise of each other show as
        such. The folds are drawn once and shared by all sources; a combined
        score is computed fold by fold, then averaged.

    n_jobs : int, default=None
        Number of sources scored in parallel, through
        :class:`sklearn.utils.parallel.Parallel`; ``None`` means 1 unless in
        a :func:`joblib.parallel_backend` context (e.g. ``"dask"``, which
        runs the pool on a Dask cluster), -1 means all processors. Each task
        extracts one source's features, scores them and returns only the
        scores: at most ``n_jobs`` sources' features are in memory at once.

    memory : str, object with the joblib.Memory interface or None, default=None
        Caches each source's fitted transformer and features (as
        :class:`~sklearn.pipeline.Pipeline` does), so that refitting with
        other metrics, another ``combine`` or a ``final_estimator`` does not
        extract the features again. ``None`` caches nothing.

    verbose : int, default=0
        Verbosity: ``> 0`` prints each source's scores and time, and is passed
        to joblib.

    on_error : {"raise", "skip"}, default="raise"
        What to do when a source fails (a bad model, a shape mismatch, a metric
        error on its features). ``"raise"`` raises an error of the same type
        that names the source, chained to the original one. ``"skip"`` warns,
        records the error in ``failed_sources_`` and goes on; if every source
        fails, a ``ValueError`` is raised.

    keep_features : bool, default=False
        Whether to keep each source's features of ``X`` in ``features_``. This
        holds the features of every source in memory at once.

    Attributes
    ----------
    estimator_ : dict of str to estimator
        The metrics, by name (unfitted clones of them are fitted per source).

    scores_ : pandas.DataFrame or dict
        The transferability table: one row per source that did not fail (in
        the order of ``sources``, index ``"source"``), one column per metric,
        plus ``"combined"`` when ``combine`` is set. Without pandas, a dict of
        columns like ``cv_results_`` of
        :class:`~sklearn.model_selection.GridSearchCV`: key ``"source"``
        holds the names and each metric name an ndarray of values;
        ``pandas.DataFrame(scores_).set_index("source")`` gives the table.

    scores_std_ : pandas.DataFrame or dict
        Only with ``cv``: the standard deviation over folds of every entry of
        ``scores_``, with the same layout.

    ranking_ : list of str
        Source names, best first (ties keep the order of ``sources``).

    best_source_name_ : str
        Name of the winning source, ``ranking_[0]``.

    best_source_ : transformer
        Clone of the winning source, fitted on ``X``.

    best_score_ : float
        The value that ranks the sources (``"combined"``, or the first
        metric), for the winner.

    final_estimator_ : estimator
        The fitted ``final_estimator``; only when it is given.

    failed_sources_ : dict of str to Exception
        The sources that failed with ``on_error="skip"``, with their error.

    features_ : dict of str to ndarray
        Only with ``keep_features=True``: the features of ``X`` of each source
        that did not fail.

    n_features_in_ : int
        Number of features of ``X`` seen during fit, when ``X`` has a shape.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features of ``X``, when ``X`` has string column names.

    See Also
    --------
    sktransfer.metrics.make_transferability_scorer : Transferability as a
        scorer for cross-validation.
    sklearn.ensemble.StackingClassifier : The same composition for classifiers.
    sklearn.model_selection.GridSearchCV : Source search one candidate at a
        time, with ``Pipeline([("features", ...), ("metric", LogME())])``.

    Notes
    -----
    ``fit`` costs one feature extraction per source (plus one for the winner
    when ``memory`` is not set and a ``final_estimator`` is given) and one
    metric fit per source, metric and fold.

    ``GridSearchCV`` can search sources too, but it scores each candidate on
    its own: zoo-relative scores (``combine``) and several metrics per source
    in one table need the whole pool, which is what this class sees.

    Without a ``final_estimator``, ``score(X, y)`` returns the transferability
    of the winner's features of ``X`` under the primary metric: the
    :class:`~sktransfer.metrics.ETran` or :class:`~sktransfer.metrics.NCTI`
    metric for ``combine="etran"`` or ``"ncti"`` (its per-source score), the
    first metric otherwise; a pool-relative combination has no value for a
    single source. With a ``final_estimator``, it returns
    ``final_estimator_.score`` on the winner's features, as
    :meth:`sklearn.model_selection.GridSearchCV.score` defers to the best
    estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sktransfer.datasets import make_source_pool
    >>> from sktransfer.metrics import LogME, TransRate
    >>> from sktransfer.selection import SourceSelector
    >>> pool = make_source_pool(n_samples=200, n_sources=3, random_state=0)
    >>> X = np.hstack(list(pool.features.values()))  # 3 blocks of 32 columns
    >>> sources = [
    ...     (name, FunctionTransformer(lambda X, i=i: X[:, 32 * i : 32 * (i + 1)]))
    ...     for i, name in enumerate(pool.features)
    ... ]
    >>> selector = SourceSelector(sources, estimator=[LogME(), TransRate()])
    >>> selector = selector.fit(X, pool.target)
    >>> selector.ranking_
    ['source_0', 'source_1', 'source_2']
    >>> selector.scores_.columns.tolist()
    ['LogME', 'TransRate']
    >>> selector.transform(X).shape
    (200, 32)
    """

    _parameter_constraints = {
        "sources": [list],
        "estimator": [HasMethods(["fit"]), list, dict, None],
        "final_estimator": [HasMethods(["fit"]), None],
        "combine": [StrOptions({"etran", "ncti", "mean_rank"}), callable, None],
        "cv": ["cv_object"],
        "n_jobs": [Integral, None],
        "memory": [None, str, HasMethods(["cache"])],
        "verbose": ["verbose"],
        "on_error": [StrOptions({"raise", "skip"})],
        "keep_features": ["boolean"],
    }

    def __init__(
        self,
        sources,
        *,
        estimator=None,
        final_estimator=None,
        combine=None,
        cv=None,
        n_jobs=None,
        memory=None,
        verbose=0,
        on_error="raise",
        keep_features=False,
    ):
        self.sources = sources
        self.estimator = estimator
        self.final_estimator = final_estimator
        self.combine = combine
        self.cv = cv
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose
        self.on_error = on_error
        self.keep_features = keep_features

    # ------------------------------------------------------------ parameters
    def get_params(self, deep=True):
        """Get the parameters, with ``<source name>__<param>`` when ``deep``.

        Parameters
        ----------
        deep : bool, default=True
            If True, also return the parameters of the sources (and of the
            other sub-estimators).

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return self._get_params("sources", deep=deep)

    def set_params(self, **params):
        """Set the parameters, including ``<source name>__<param>``.

        Parameters
        ----------
        **params : keyword arguments
            Parameters of the selector, sources replaced by name
            (``<name>=transformer``) or their parameters
            (``<name>__<param>=value``). ``sources__<name>__<param>`` is
            accepted as an alias of ``<name>__<param>`` (e.g. in a
            ``GridSearchCV`` grid), and ``sources__<name>`` of ``<name>``.

        Returns
        -------
        self : SourceSelector
            This estimator.
        """
        prefix = "sources__"
        params = {
            key.removeprefix(prefix) if key.startswith(prefix) else key: value
            for key, value in params.items()
        }
        self._set_params("sources", **params)
        return self

    @property
    def named_sources(self):
        """The sources as a :class:`~sklearn.utils.Bunch`, by name."""
        return Bunch(**dict(self.sources))

    # ------------------------------------------------------------------ fit
    def _validate_sources(self):
        if not self.sources:
            raise ValueError("sources must be a non-empty list of (name, transformer).")
        try:
            names, transformers = zip(*self.sources, strict=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                "sources must be a list of (name, transformer) tuples."
            ) from exc
        self._validate_names(names)
        for name, transformer in self.sources:
            if not (
                hasattr(transformer, "fit")
                and (
                    hasattr(transformer, "transform")
                    or hasattr(transformer, "fit_transform")
                )
            ):
                raise TypeError(
                    f"Source {name!r} must be a transformer with fit and transform; "
                    f"got {transformer!r}."
                )
        return list(names), list(transformers)

    def _resolve_metrics(self):
        estimator = LogME() if self.estimator is None else self.estimator
        if isinstance(estimator, dict):
            metrics = dict(estimator)
        elif isinstance(estimator, list):
            metrics = dict(zip(_metric_names(estimator), estimator, strict=True))
        else:
            metrics = {type(estimator).__name__: estimator}
        if not metrics:
            raise ValueError("estimator must hold at least one metric.")
        for name, metric in metrics.items():
            if not isinstance(name, str) or name in ("source", _COMBINED):
                raise ValueError(
                    f"Metric names must be strings other than 'source' and "
                    f"{_COMBINED!r}; got {name!r}."
                )
            if not hasattr(metric, "fit"):
                raise TypeError(
                    f"Metric {name!r} must be an estimator; got {metric!r}."
                )
        if self.combine in _ZOO_COMBINERS:
            cls = _ZOO_COMBINERS[self.combine][0]
            if not any(isinstance(m, cls) for m in metrics.values()):
                raise ValueError(
                    f"combine={self.combine!r} combines the components_ of "
                    f"{cls.__name__}, which must be among the metrics; got "
                    f"{list(metrics)}."
                )
        return metrics

    def _primary_metric(self):
        """Name of the metric that ``score`` uses (see the class Notes)."""
        if self.combine in _ZOO_COMBINERS:
            cls = _ZOO_COMBINERS[self.combine][0]
            return next(n for n, m in self.estimator_.items() if isinstance(m, cls))
        return next(iter(self.estimator_))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Score every source on ``(X, y)``, rank them and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) or any input of the sources
            Target data, passed unchanged to the sources.
        y : array-like of shape (n_samples,)
            Target labels (or targets of the metrics).

        Returns
        -------
        self : SourceSelector
            The fitted selector.
        """
        X, y = validate_data(self, X, y, skip_check_array=True)
        names, transformers = self._validate_sources()
        self.estimator_ = self._resolve_metrics()
        memory = check_memory(self.memory)
        splits = None
        if self.cv is not None:
            cv = check_cv(self.cv, y, classifier=True)
            splits = list(cv.split(X, y))

        results = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_score_source)(
                name,
                transformer,
                X,
                y,
                self.estimator_,
                splits,
                memory,
                self.keep_features,
                self.on_error == "skip",
            )
            for name, transformer in zip(names, transformers, strict=True)
        )

        self.failed_sources_ = {}
        ok = []
        for result in results:
            if result.error is not None:
                self.failed_sources_[result.name] = result.error
                warnings.warn(
                    f"{result.error} (skipped: on_error='skip')",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                ok.append(result)
                if self.verbose > 0:
                    values = ", ".join(
                        f"{m}={np.mean(v):.4g}" for m, v in result.scores.items()
                    )
                    print(  # noqa: T201
                        f"[SourceSelector] {result.name}: {values} ({result.time:.1f}s)"
                    )
        if not ok:
            last = next(reversed(self.failed_sources_.values()))
            raise ValueError(
                f"All {len(names)} sources failed; the last error: {last}"
            ) from last

        ok_names = [r.name for r in ok]
        n_folds = 1 if splits is None else len(splits)
        # (n_folds, n_sources) per metric
        per_fold = {m: np.array([r.scores[m] for r in ok]).T for m in self.estimator_}
        if self.combine is not None:
            per_fold[_COMBINED] = np.array(
                [
                    self._combine_fold(ok, {m: v[f] for m, v in per_fold.items()}, f)
                    for f in range(n_folds)
                ]
            )
        means = {m: v.mean(axis=0) for m, v in per_fold.items()}
        self.scores_ = _table(ok_names, means)
        if splits is not None:
            self.scores_std_ = _table(
                ok_names, {m: v.std(axis=0) for m, v in per_fold.items()}
            )

        key = _COMBINED if self.combine is not None else next(iter(self.estimator_))
        criterion = np.where(np.isnan(means[key]), -np.inf, means[key])
        order = np.argsort(-criterion, kind="stable")
        self.ranking_ = [ok_names[i] for i in order]
        self.best_source_name_ = self.ranking_[0]
        self.best_score_ = float(means[key][order[0]])
        if self.keep_features:
            self.features_ = {r.name: r.features for r in ok}

        winner = clone(dict(self.sources)[self.best_source_name_])
        if self.final_estimator is None:
            self.best_source_ = winner.fit(X, y)
        else:
            self.best_source_, features = memory.cache(_fit_transform_one)(
                winner, X, y, None
            )
            self.final_estimator_ = clone(self.final_estimator).fit(features, y)
        return self

    def _combine_fold(self, ok, scores, fold):
        """The combined score of every source in one fold."""
        if self.combine in _ZOO_COMBINERS:
            metric = self._primary_metric()
            combined = _ZOO_COMBINERS[self.combine][1](
                [r.components[metric][fold] for r in ok]
            )
        elif self.combine == "mean_rank":
            combined = np.mean([rankdata(v) for v in scores.values()], axis=0)
        else:
            combined = np.asarray(self.combine(dict(scores)), dtype=np.float64)
            if combined.shape != (len(ok),):
                raise ValueError(
                    f"combine must return one value per source, shape "
                    f"({len(ok)},); got shape {combined.shape}."
                )
        return np.asarray(combined, dtype=np.float64)

    # ------------------------------------------------------- fitted methods
    @property
    def classes_(self):
        """The classes of the final estimator (only with a final classifier)."""
        check_is_fitted(self)
        return self.final_estimator_.classes_

    def _best_features(self, X):
        check_is_fitted(self)
        if hasattr(self, "n_features_in_") and len(getattr(X, "shape", ())) == 1:
            raise ValueError(
                "Expected a 2D array, got a 1D array instead. Reshape your data "
                "with array.reshape(-1, 1) for a single feature or "
                "array.reshape(1, -1) for a single sample."
            )
        X = validate_data(self, X, reset=False, skip_check_array=True)
        return self.best_source_.transform(X)

    def transform(self, X):
        """Return the winning source's features of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data in the input format of the sources.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            ``best_source_.transform(X)``.
        """
        return self._best_features(X)

    @available_if(_final_estimator_has("predict"))
    def predict(self, X):
        """Predict with the final estimator on the winning source's features.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data in the input format of the sources.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            ``final_estimator_.predict`` of the winner's features.
        """
        features = self._best_features(X)
        return self.final_estimator_.predict(features)

    @available_if(_final_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the final estimator on the winner's features.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data in the input format of the sources.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            ``final_estimator_.predict_proba`` of the winner's features.
        """
        features = self._best_features(X)
        return self.final_estimator_.predict_proba(features)

    @available_if(_final_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the final estimator on the winner's features.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data in the input format of the sources.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``final_estimator_.decision_function`` of the winner's features.
        """
        features = self._best_features(X)
        return self.final_estimator_.decision_function(features)

    def score(self, X, y):
        """Return the final estimator's score, or the winner's transferability.

        With a ``final_estimator``, this is ``final_estimator_.score`` on the
        winning source's features of ``X`` (accuracy for a classifier), as
        :meth:`~sklearn.model_selection.GridSearchCV.score` defers to its best
        estimator. Without one, it is the transferability of those features
        for ``y`` under the primary metric (see Notes): a clone of the metric
        fitted on them, its ``score_``. Higher is better in both cases.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Data in the input format of the sources.
        y : array-like of shape (n_samples,)
            Target labels.

        Returns
        -------
        score : float
            The final estimator's score or the transferability.
        """
        features = self._best_features(X)
        if self.final_estimator is not None:
            return float(self.final_estimator_.score(features, y))
        metric = self.estimator_[self._primary_metric()]
        return float(clone(metric).fit(features, y).score_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        if self.final_estimator is not None:
            from sklearn.utils import get_tags

            final_tags = get_tags(self.final_estimator)
            tags.estimator_type = final_tags.estimator_type
            tags.classifier_tags = final_tags.classifier_tags
            tags.regressor_tags = final_tags.regressor_tags
        return tags

    def _sk_visual_block_(self):
        names, transformers = zip(*self.sources, strict=True)
        metrics = LogME() if self.estimator is None else self.estimator
        if isinstance(metrics, list):
            metrics = dict(zip(_metric_names(metrics), metrics, strict=True))
        elif not isinstance(metrics, dict):
            metrics = {type(metrics).__name__: metrics}
        sources = _VisualBlock(
            "parallel", list(transformers), names=list(names), dash_wrapped=False
        )
        metrics = _VisualBlock(
            "parallel", list(metrics.values()), names=list(metrics), dash_wrapped=False
        )
        steps = [sources, metrics]
        step_names = ["sources", "estimator"]
        if self.final_estimator is not None:
            steps.append(self.final_estimator)
            step_names.append("final_estimator")
        return _VisualBlock("serial", steps, names=step_names, dash_wrapped=False)


def _table(names, columns):
    """The scores table: a DataFrame when pandas is importable, else a dict."""
    try:
        import pandas as pd
    except ImportError:
        return {"source": np.array(names, dtype=object), **columns}
    frame = pd.DataFrame(columns, index=pd.Index(names, name="source"))
    return frame
