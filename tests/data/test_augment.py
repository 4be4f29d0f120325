"""Rotation and colour jitter: batched tensor ops that keep shapes, move pixels as stated and stay in range."""

from __future__ import annotations

import pytest
import torch

from trainworks.data.augment import (AUGMENTATIONS, adjust_brightness, adjust_contrast, adjust_saturation,
                                     rotate)


def augmentation(name: str, **params):
    entry = AUGMENTATIONS.get(name)
    return entry.build(entry.params(**params))


def test_rotate_by_right_angles_matches_exact_turns_counter_clockwise() -> None:
    images = torch.rand(4, 3, 8, 8)
    quarter = torch.full((4,), 90.0)
    assert torch.allclose(rotate(images, quarter), torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(rotate(images, -quarter), torch.rot90(images, -1, dims=(-2, -1)), atol=1e-5)
    assert torch.equal(rotate(images, torch.zeros(4)), images)
    wide = torch.rand(2, 1, 4, 10)  # not square: a half turn still maps pixels onto pixels
    assert torch.allclose(rotate(wide, torch.full((2,), 180.0)), wide.flip(-1).flip(-2), atol=1e-5)


def test_rotate_turns_each_image_by_its_own_angle() -> None:
    dot = torch.zeros(2, 1, 5, 9)
    dot[:, 0, 0, 4] = 1.0  # above the centre
    turned = rotate(dot, torch.tensor([90.0, -90.0]))
    assert turned[0, 0, 2, 2] == pytest.approx(1.0) and turned[1, 0, 2, 6] == pytest.approx(1.0)


def test_random_rotation_keeps_shape_and_range_and_varies_by_image() -> None:
    torch.manual_seed(0)
    images = torch.rand(32, 3, 12, 12)
    out = augmentation("rotation", degrees=30)(images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0 and out.max() <= 1  # bilinear mixes of pixels and zero corners
    changed = [(out[i] - images[i]).abs().mean() for i in range(32)]
    assert len({round(float(c), 4) for c in changed}) > 20


def test_brightness_shifts_every_pixel_of_an_image_alike() -> None:
    images = torch.rand(3, 3, 4, 4)
    out = adjust_brightness(images, torch.tensor([0.1, 0.0, -0.2]))
    assert torch.allclose(out - images, torch.tensor([0.1, 0.0, -0.2]).view(3, 1, 1, 1).expand_as(images))


def test_contrast_scales_around_each_channel_mean_and_keeps_the_mean() -> None:
    images = torch.rand(2, 3, 6, 6)
    out = adjust_contrast(images, torch.tensor([0.0, 2.0]))
    means = images.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(out[0], means[0].expand_as(images[0]))  # factor 0: flat at the mean
    assert torch.allclose(out.mean(dim=(2, 3), keepdim=True), means, atol=1e-6)
    assert torch.allclose(out[1] - means[1], 2 * (images[1] - means[1]), atol=1e-6)


def test_saturation_moves_towards_grey_and_leaves_grey_images_alone() -> None:
    colour = torch.rand(2, 3, 5, 5)
    grey = adjust_saturation(colour, torch.zeros(2))
    assert torch.allclose(grey, colour.mean(dim=1, keepdim=True).expand_as(colour))
    one_channel = torch.rand(2, 1, 5, 5)
    assert torch.equal(adjust_saturation(one_channel, torch.tensor([0.0, 3.0])), one_channel)


def test_colour_jitter_on_grey_images_changes_only_brightness_and_contrast() -> None:
    torch.manual_seed(0)
    grey = torch.rand(16, 1, 8, 8)
    assert torch.equal(augmentation("color_jitter", brightness=0, contrast=0, saturation=0.9)(grey), grey)
    shifted = augmentation("color_jitter", brightness=0.3, contrast=0, saturation=0)(grey) - grey
    per_image = shifted.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)  # one shift per image
    assert per_image.abs().max() <= 0.3 + 1e-6


def test_colour_jitter_keeps_shape_and_clips_to_the_given_range() -> None:
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8)
    out = augmentation("color_jitter", brightness=0.5, contrast=0.5, saturation=0.5, clip=(0.0, 1.0))(images)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, images)
    unclipped = augmentation("color_jitter", brightness=0.5, contrast=0.5, saturation=0.5)(images)
    assert unclipped.min() < 0 or unclipped.max() > 1  # without clip, values leave [0, 1] (normalised data)
