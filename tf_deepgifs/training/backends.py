"""The one part of training that differs by backend: taking a step, and compiling passes.

A stage (`stages.Stage`) says what is trained: its losses (backend-portable, keras.ops),
its players (each an optimizer, the variables it moves and the loss it lowers), the
noise a step draws. A backend turns that into a compiled step and compiled forward
passes; the loop (`loop.py`) is the same for both:

    TensorFlowBackend  variables updated in place inside `tf.function`; under a
                       tf.distribute strategy each replica takes its rows of the global
                       batch, and the losses are scaled so N replicas make the update one
                       device would. BatchNorm normalises each replica's rows by their own
                       statistics and each replica keeps its own moving averages (the
                       chief's are saved); see `distribution.py` for why.
    JaxBackend         a stateless step compiled by XLA (`jax.vjp`, one backward pass per
                       player, `optimizer.stateless_apply`), as in Keras' guide to custom
                       train steps in JAX. With several devices, Keras' own
                       `keras.distribution.DataParallel` lays the batch out across them
                       and replicates the variables: the batch is one global array, so
                       BatchNorm's statistics are the whole batch's, on every device.

Each player moves only its own variables, from one forward pass shared by all players
(the GAN's generator and discriminator, section 4.2). The noise of a step is a function
of (seed, step, stream): every sequence gets the same noise however the batch is split;
the two backends draw other numbers from the same distributions.
"""

import numpy as np

UNIFORM_STREAMS = ("coin",)  # noise streams drawn uniform in [0, 1); the rest standard normal
# tf.function's options for every compiled step and pass. Traced as plain Python, without
# AutoGraph's rewriting, as Keras' own trainer traces its steps (`do_not_convert`): the
# stages' code has no Python control flow on tensors, and the rewriting is a share of
# every trace's time.
TF_FUNCTION = {"autograph": False}


def make_backend(stage, devices):
    """The backend Keras runs on, for `stage`, on `devices` (`distribution.Devices`)."""
    import keras

    if keras.backend.backend() == "jax":
        return JaxBackend(stage, devices)
    return TensorFlowBackend(stage, devices)


class TensorFlowBackend:
    """Steps and forward passes under `tf.function`, on a tf.distribute strategy."""

    def __init__(self, stage, devices):
        import tensorflow as tf

        self.stage = stage
        self.strategy = devices.strategy
        self.replicas = self.strategy.num_replicas_in_sync
        replica_step = self._replica_step
        if stage.jit_compile:
            replica_step = tf.function(replica_step, jit_compile=True, **TF_FUNCTION)

        @tf.function(**TF_FUNCTION)
        def distributed(batch, step):
            values = self.strategy.run(replica_step, args=(batch, step))
            return {name: self.strategy.reduce("MEAN", value, axis=None)
                    for name, value in values.items()}

        self._distributed = distributed

    def _noise(self, batch_size, step):
        """This replica's rows of the noise drawn for the whole global batch."""
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group
        noise = {}
        for name, (stream, shape) in self.stage.noise_streams().items():
            seed = tf.stack([tf.cast(self.stage.seed, tf.int64), step * 1000 + stream])
            draw = tf.random.stateless_uniform if name in UNIFORM_STREAMS else tf.random.stateless_normal
            everyone = draw(tf.concat([[batch_size * self.replicas], shape], axis=0), seed=seed)
            noise[name] = everyone[replica * batch_size : (replica + 1) * batch_size]
        return noise

    def _replica_step(self, batch, step):
        import tensorflow as tf

        local = tf.shape(next(iter(batch.values())))[0]
        noise = self._noise(local, step)
        with tf.GradientTape(persistent=True) as tape:
            values = self.stage.losses(batch, noise, step, training=True)
            # Gradients are summed over replicas: scale so the update is the global mean's.
            objectives = [values[player.loss] / self.replicas for player in self.stage.players]
        gradients = [tape.gradient(objective, player.variables)
                     for objective, player in zip(objectives, self.stage.players)]
        done = []
        for player, grads in zip(self.stage.players, gradients):
            # Under a strategy each update all-reduces its gradients; collectives must start
            # in the same order on every replica, so each player waits for the one before.
            with tf.control_dependencies(done):
                player.optimizer.apply_gradients(zip(grads, player.variables))
            done = [player.optimizer.iterations.value]
        return values

    def _replica_rows(self, batch):
        """The global batch (numpy) as per-replica tensors, replica r taking rows r*b..(r+1)*b."""
        import tensorflow as tf

        size = len(next(iter(batch.values())))
        if size % self.replicas:
            raise ValueError(f"a batch of {size} does not split over {self.replicas} replicas")
        local = size // self.replicas

        def rows(context):
            start = context.replica_id_in_sync_group * local
            return {name: tf.constant(value[start : start + local]) for name, value in batch.items()}

        return self.strategy.experimental_distribute_values_from_function(rows)

    def train_step(self, batch, step):
        """One update from the global batch {name: numpy array}; the losses, not yet read."""
        import tensorflow as tf

        return self._distributed(self._replica_rows(batch), tf.constant(step, tf.int64))

    def compile(self, function):
        """`function` (of arrays) compiled; it sees the variables as they are when called."""
        import tensorflow as tf

        compiled = tf.function(function, reduce_retracing=True, **TF_FUNCTION)
        return lambda *args: _to_numpy(compiled(*args))

    def start(self):
        """Nothing to do: the step reads the Keras variables themselves."""

    def sync(self):
        """Nothing to do: TensorFlow updates the Keras variables in place."""

    def scope(self):
        return self.strategy.scope()


class JaxBackend:
    """A stateless step and forward passes under `jax.jit`, data parallel over devices.

    The state is the values of the players' variables, of every other model variable
    (BatchNorm's moving statistics, and the networks a stage keeps frozen) and of the
    players' optimizers; `sync` writes it back into the Keras variables.
    """

    def __init__(self, stage, devices):
        import jax

        self.stage = stage
        self.distribution = devices.distribution
        self.trained = [list(player.variables) for player in stage.players]
        trained = {id(v) for group in self.trained for v in group}
        self.fixed = [v for v in stage.model.weights if id(v) not in trained]
        self.slots = [list(player.optimizer.variables) for player in stage.players]
        self.state = None
        self._step = jax.jit(self._train_step, donate_argnums=0)

    def start(self):
        """Takes the variables' values (as restored from a checkpoint) as the state."""
        self.state = self._read_state()

    def _groups(self):
        return self.trained, [self.fixed], self.slots

    def _read_state(self):
        """Copies of the variables' values (the step consumes its state's buffers)."""
        import jax.numpy as jnp

        return tuple([[jnp.array(v.value) for v in group] for group in groups]
                     for groups in self._groups())

    def sync(self):
        """Writes the state's values into the Keras variables (checkpoints, `model.save`)."""
        for groups, values in zip(self._groups(), self.state):
            for group, group_values in zip(groups, values):
                for variable, value in zip(group, group_values):
                    variable.assign(value)

    def _mapping(self, trained, fixed):
        pairs = [pair for group, values in zip(self.trained, trained) for pair in zip(group, values)]
        return pairs + list(zip(self.fixed, fixed))

    def _noise(self, step, batch_size):
        import jax

        step_key = jax.random.fold_in(jax.random.key(self.stage.seed), step)
        noise = {}
        for name, (stream, shape) in self.stage.noise_streams().items():
            key = jax.random.fold_in(step_key, stream)
            draw = jax.random.uniform if name in UNIFORM_STREAMS else jax.random.normal
            noise[name] = draw(key, (batch_size,) + tuple(shape))
        return noise

    def _train_step(self, state, batch, step):
        import jax
        import jax.numpy as jnp
        import keras

        trained, (fixed,), slots = state
        noise = self._noise(step, next(iter(batch.values())).shape[0])

        def objectives(trained):
            with keras.StatelessScope(state_mapping=self._mapping(trained, fixed)) as scope:
                values = self.stage.losses(batch, noise, step, training=True)
            updated = [scope.get_current_value(v) for v in self.fixed]
            return tuple(values[p.loss] for p in self.stage.players), (values, updated)

        losses, backward, (values, fixed) = jax.vjp(objectives, trained, has_aux=True)
        new_trained, new_slots = [], []
        for i, player in enumerate(self.stage.players):
            cotangent = tuple(jnp.ones_like(loss) if j == i else jnp.zeros_like(loss)
                              for j, loss in enumerate(losses))
            (gradients,) = backward(cotangent)
            values_i, slots_i = player.optimizer.stateless_apply(slots[i], gradients[i], trained[i])
            new_trained.append(values_i)
            new_slots.append(slots_i)
        return (new_trained, [fixed], new_slots), values

    def _laid_out(self, batch):
        """The batch across the devices (Keras' data-parallel layout), or as it is."""
        if self.distribution is None:
            return batch
        import keras

        return {name: keras.distribution.distribute_tensor(
            value, self.distribution.get_data_layout(value.shape)) for name, value in batch.items()}

    def train_step(self, batch, step):
        self.state, values = self._step(self.state, self._laid_out(batch), step)
        return values

    def compile(self, function):
        """`function` compiled, computing with the state's current values."""
        import jax
        import keras

        def stateless(trained, fixed, *args):
            with keras.StatelessScope(state_mapping=self._mapping(trained, fixed)):
                return function(*args)

        compiled = jax.jit(stateless)
        return lambda *args: _to_numpy(compiled(self.state[0], self.state[1][0], *args))

    def scope(self):
        import contextlib

        return self.distribution.scope() if self.distribution else contextlib.nullcontext()


def _to_numpy(structure):
    """Backend tensors (in dicts, lists, tuples) --> NumPy arrays."""
    import keras

    if isinstance(structure, dict):
        return {k: _to_numpy(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_to_numpy(v) for v in structure)
    return np.asarray(keras.ops.convert_to_numpy(structure))
