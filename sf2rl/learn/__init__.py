"""The DQN learner: replay, n-step, the Q update, rollout over the trial's envs, league opponents, in-trial evaluation.

Below the sweep layer: it knows nothing of Tune trials or MLflow. ``sf2rl.sweep.trainable`` is where the two meet.
"""
