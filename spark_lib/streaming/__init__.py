"""Real-time online events: the project's Kafka broker, the replay of the generator's events to it, the stream.

- :mod:`.broker`: a local Apache Kafka broker (KRaft, one node, 127.0.0.1 only) in its own JVM;
  ``rcu kafka start|stop|status``.
- :mod:`.events`: the online events of a raw folder (navigation, orders, campaign events) as keyed JSON messages.
- :mod:`.replay`: their sending order with late, duplicated and malformed messages, and the paced sending;
  ``rcu replay``.
- :mod:`.kafka_client`: the one module that talks to Kafka from Python (``kafka-python``).
- :mod:`.stream`: one micro-batch of ``rcu stream``: bronze, quarantine, late events, silver, identity links,
  triggers; :mod:`.state`: what the micro-batches keep in memory between them; :mod:`.commits`: their Delta
  commits through delta-rs; :mod:`.rules`: the rules of ``conf/triggers.yaml`` on a micro-batch (pandas);
  :mod:`.triggers`: the file, and the same rules in Spark on whole tables, which :mod:`.check` compares the
  stream's firings with; :mod:`.status`: ``rcu stream --status``.

Example::

    from spark_lib.streaming import Disorder, KafkaBroker, plan_replay, publish, read_online_events

    with KafkaBroker("/tmp/kafka", port=0) as broker:
        events = read_online_events(load_sources(), "data/raw").events
        report = publish(plan_replay(events, Disorder(seed=1)), broker.bootstrap_servers, TopicsConfig(),
                         partitions=3, rate=1000)
"""

from spark_lib.streaming.broker import BrokerError, BrokerStatus, KafkaBroker
from spark_lib.streaming.events import OnlineEvent, OnlineEvents, read_online_events
from spark_lib.streaming.replay import Disorder, ReplayPlan, ReplayReport, plan_replay, publish

__all__ = ["BrokerError", "BrokerStatus", "Disorder", "KafkaBroker", "OnlineEvent", "OnlineEvents", "ReplayPlan",
           "ReplayReport", "plan_replay", "publish", "read_online_events"]
