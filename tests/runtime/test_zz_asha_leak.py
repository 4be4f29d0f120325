import time
import pytest
from tests.runtime import test_tune


@pytest.mark.slow
def test_after_asha_every_cpu_comes_back(ray_session, tracker):
    import ray
    test_tune.test_asha_stops_the_weak_trials_early(ray_session, tracker)
    test_tune.test_asha_stops_the_weak_trials_early(ray_session, tracker)
    for _ in range(30):
        free = ray.available_resources().get("CPU", 0)
        if free >= ray.cluster_resources()["CPU"]:
            break
        time.sleep(2)
    print("available", ray.available_resources(), "total", ray.cluster_resources())
    from ray.util.state import list_actors, list_placement_groups
    print([ (a.class_name, a.state) for a in list_actors() if a.state != "DEAD"])
    print([ (p.placement_group_id[:8], p.state) for p in list_placement_groups() if p.state != "REMOVED"])
    assert free >= ray.cluster_resources()["CPU"]
