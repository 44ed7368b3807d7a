"""The layout planner: subjects, boxes and poses read from a prompt."""

import numpy as np

from scenecraft.planner import plan_subjects
from scenecraft.world.smpl import preset_pose


def test_the_readme_prompt() -> None:
    person, sphere = plan_subjects("a person waving next to a red metal sphere on grass")
    assert person.prompt == "a person waving" and sphere.prompt == "a red metal sphere"
    assert person.pose is not None and sphere.pose is None
    np.testing.assert_allclose(person.pose.body_pose, preset_pose("wave"))
    assert person.box is not None and sphere.box is not None
    assert person.box[2] <= sphere.box[0]  # named first, placed left
    assert person.box[3] - person.box[1] > sphere.box[3] - sphere.box[1]  # people are taller


def test_counts_plurals_and_nothing_to_plan() -> None:
    subjects = plan_subjects("two blue rubber cubes and a woman jumping")
    assert [s.prompt for s in subjects] == ["a blue rubber cube", "a blue rubber cube", "a person jumping"]
    np.testing.assert_allclose(subjects[2].pose.body_pose, preset_pose("jump"))  # type: ignore[union-attr]
    assert plan_subjects("an empty room with a marble floor and a brick wall") == ()
    standing = plan_subjects("someone on sand")[0]
    np.testing.assert_allclose(standing.pose.body_pose, preset_pose("stand"))  # type: ignore[union-attr]
    assert len(plan_subjects("three spheres and three cubes")) == 4  # at most four subjects
    for s in plan_subjects("three spheres and a cube"):
        assert s.box is not None and 0 <= s.box[0] < s.box[2] <= 1 and 0 <= s.box[1] < s.box[3] <= 1
