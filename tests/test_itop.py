"""ITOP reader and writer on tiny files in the real layout (tests/fixtures/itop.py)."""

from __future__ import annotations

import json
import pickle
import shutil

import h5py
import numpy as np
import pytest
from fixtures.itop import TEST_FRAMES, TRAIN_FRAMES, write_itop

from refinet_edge.camera import Camera, camera_preset
from refinet_edge.data.itop import ItopSplit, ItopWriter, itop_path, open_split
from refinet_edge.errors import RefinetError

F16_ATOL = 4e-3  # float16 spacing is 2**-9 for 2-4 m


def expected_rows(frames, keep_subject) -> list[int]:
    return [i for i, (fid, valid) in enumerate(frames) if valid and keep_subject(fid[:2])]


# -- reading -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("split", "frames", "keep"),
    [
        ("train", TRAIN_FRAMES, lambda s: s not in ("04", "05")),
        ("val", TRAIN_FRAMES, lambda s: s in ("04", "05")),
        ("test", TEST_FRAMES, lambda s: True),
    ],
)
def test_splits_by_subject_and_drop_invalid(itop_dir, split, frames, keep):
    with open_split(itop_dir, "side", split) as ds:
        rows = expected_rows(frames, keep)
        assert ds.rows.tolist() == rows
        assert ds.ids == [frames[r][0] for r in rows]
        assert len(ds) == len(rows)
        assert ds.joints_m.shape == (len(rows), 15, 3) and ds.joints_m.dtype == np.float64
        assert ds.uv_px.shape == (len(rows), 15, 2) and ds.uv_px.dtype == np.float64
        assert ds.visible.shape == (len(rows), 15) and ds.visible.dtype == bool
        assert ds.camera == camera_preset("itop_side") and ds.shape == (240, 320)


def test_labels_convert_y_up_to_camera_frame(itop_dir):
    with h5py.File(itop_path(itop_dir, "side", "train", "labels")) as f:
        rw, uv, vis = f["real_world_coordinates"][()], f["image_coordinates"][()], f["visible_joints"][()]
    ds = ItopSplit(itop_dir, "side", "train")
    np.testing.assert_array_equal(ds.joints_m[..., 1], -rw[ds.rows, :, 1].astype(np.float64))
    np.testing.assert_array_equal(ds.joints_m[..., [0, 2]], rw[ds.rows][..., [0, 2]])
    np.testing.assert_array_equal(ds.uv_px, uv[ds.rows])
    np.testing.assert_array_equal(ds.visible, vis[ds.rows] != 0)
    # y down: joints in the lower image half (v > cy) have y > 0, and they project back to their pixels.
    below = ds.uv_px[..., 1] > 125
    assert np.all(ds.joints_m[..., 1][below] > 0)
    np.testing.assert_allclose(ds.camera.project(ds.joints_m), ds.uv_px, atol=0.05)


def test_depth_and_batches(itop_dir):
    with h5py.File(itop_path(itop_dir, "side", "train", "depth_map")) as f:
        data = f["data"][()]
    with ItopSplit(itop_dir, "side", "train") as ds:
        assert ds.rows.tolist() == [0, 1, 7, 8, 10]  # non-contiguous: three runs
        one = ds.depth(2)
        assert one.dtype == np.float32 and one.shape == (240, 320)
        np.testing.assert_array_equal(one, data[7])
        per_frame = np.stack([ds.depth(i) for i in range(len(ds))])
        np.testing.assert_array_equal(ds.depth_batch(0, len(ds)), per_frame)
        np.testing.assert_array_equal(ds.depth_batch(1, 4), per_frame[1:4])
        np.testing.assert_array_equal(ds.depth_batch(3, 100), per_frame[3:])  # clipped like a slice
        assert ds.depth_batch(4, 2).shape == (0, 240, 320)
        np.testing.assert_array_equal(ds.depths([4, 0, 2, 0, -1]), per_frame[[4, 0, 2, 0, -1]])
        np.testing.assert_array_equal(ds.depth(-1), per_frame[-1])
        with pytest.raises(IndexError):
            ds.depth(len(ds))
        with pytest.raises(IndexError):
            ds.depths([0, len(ds)])


def test_point_cloud_from_file_matches_deprojection(itop_dir, tmp_path):
    for name in ("ITOP_side_test_depth_map.h5", "ITOP_side_test_labels.h5"):
        shutil.copy(itop_dir / name, tmp_path / name)
    with ItopSplit(itop_dir, "side", "test") as with_file, ItopSplit(tmp_path, "side", "test") as without:
        for i in range(len(with_file)):
            from_file, deprojected = with_file.point_cloud(i), without.point_cloud(i)
            assert from_file.shape == (240 * 320, 3) and from_file.dtype == np.float32
            np.testing.assert_allclose(from_file, deprojected, atol=F16_ATOL)
            assert np.all(from_file[:4 * 320] == 0)  # no depth -> (0, 0, 0)
            assert from_file[-1, 1] > 0  # bottom row: y down


def test_pickles_and_reopens_after_close(itop_dir):
    ds = ItopSplit(itop_dir, "side", "test")
    first = ds.depth(0)
    ds.close()
    np.testing.assert_array_equal(ds.depth(0), first)
    clone = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(clone.depth(0), first)
    ds.close()
    clone.close()


def test_camera_json_is_used_and_checked(tmp_path):
    write_itop(tmp_path, "top", "test", shape=(48, 64), with_point_cloud=False)
    with pytest.raises(RefinetError, match=r"itop_top.*320x240.*64x48.*camera\.json"):
        ItopSplit(tmp_path, "top", "test")
    camera = Camera("small", 64, 48, 50.0, 50.0, 32.0, 24.0)
    (tmp_path / "camera.json").write_text(json.dumps(camera.to_dict()))
    assert ItopSplit(tmp_path, "top", "test").camera == camera
    (tmp_path / "camera.json").write_text(json.dumps(camera_preset("itop_side").to_dict()))
    with pytest.raises(RefinetError, match=r"camera\.json is 320x240 but the depth maps .* are 64x48"):
        ItopSplit(tmp_path, "top", "test")


# -- bad input ---------------------------------------------------------------------------
def test_missing_or_wrong_directory(tmp_path):
    with pytest.raises(RefinetError, match="nope not found"):
        ItopSplit(tmp_path / "nope", "side", "test")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RefinetError, match="is not a directory"):
        ItopSplit(tmp_path / "file", "side", "test")


def test_unknown_view_and_split_list_valid_ones(itop_dir):
    with pytest.raises(RefinetError, match=r"view 'sied' \(did you mean 'side'\?\); valid: side, top"):
        ItopSplit(itop_dir, "sied", "test")
    with pytest.raises(RefinetError, match=r"split 'tset' \(did you mean 'test'\?\); valid: train, val, te"):
        ItopSplit(itop_dir, "side", "tset")


def test_missing_files_name_what_is_there(itop_dir, tmp_path):
    with pytest.raises(RefinetError) as err:
        ItopSplit(itop_dir, "top", "test")
    message = str(err.value)
    assert "missing ITOP_top_test_depth_map.h5, ITOP_top_test_labels.h5" in message
    assert "found ITOP_side_test_depth_map.h5" in message and "\n" not in message
    with pytest.raises(RefinetError, match="found no ITOP_\\*.h5 files"):
        ItopSplit(tmp_path, "side", "train")
    write_itop(tmp_path, "side", "train")
    itop_path(tmp_path, "side", "train", "labels").unlink()
    with pytest.raises(RefinetError, match=r"missing ITOP_side_train_labels\.h5 \(view 'side', split 'val'"):
        ItopSplit(tmp_path, "side", "val")


def test_not_hdf5(tmp_path):
    write_itop(tmp_path, "side", "test")
    labels = itop_path(tmp_path, "side", "test", "labels")
    labels.write_bytes(b"not an hdf5 file")
    with pytest.raises(RefinetError, match=f"{labels}: not a readable HDF5 file"):
        ItopSplit(tmp_path, "side", "test")


def test_missing_dataset_lists_present_ones(tmp_path):
    write_itop(tmp_path, "side", "test")
    with h5py.File(itop_path(tmp_path, "side", "test", "labels"), "a") as f:
        del f["visible_joints"]
    with pytest.raises(RefinetError, match=r"ITOP_side_test_labels\.h5: dataset 'visible_joints' missing; "
                                           r"the file holds: id, image_coordinates, is_valid"):
        ItopSplit(tmp_path, "side", "test")
    write_itop(tmp_path, "side", "train")
    with h5py.File(itop_path(tmp_path, "side", "train", "depth_map"), "a") as f:
        del f["data"]
    with pytest.raises(RefinetError, match=r"ITOP_side_train_depth_map\.h5: dataset 'data' missing; .*: id"):
        ItopSplit(tmp_path, "side", "train")


@pytest.mark.parametrize(
    ("kind", "key", "value", "message"),
    [
        ("labels", "image_coordinates", np.zeros((3, 15, 3), np.int16),
         r"labels\.h5: dataset 'image_coordinates' has shape \(3, 15, 3\), expected \(N, 15, 2\) with N = 3"),
        ("labels", "is_valid", np.ones(2, np.uint8),
         r"'is_valid' has shape \(2,\), expected \(N,\) with N = 3"),
        ("labels", "real_world_coordinates", np.zeros((3, 15, 3), "S4"), r"dtype \|S4, expected numbers"),
        ("labels", "id", np.arange(3.0), r"'id' has dtype float64, expected byte strings"),
        ("depth_map", "data", np.zeros((3, 240), np.float16),
         r"'data' has shape \(3, 240\), expected \(N, H, W\)"),
        ("depth_map", "id", np.array([b"02_00000", b"02_00009", b"03_00000"]),
         r"depth_map\.h5: 'id' disagrees with ITOP_side_test_labels\.h5: "
         r"row 1 is '02_00009' there but '02_00001'"),
        ("depth_map", "id", np.array([b"02_00000"]), r"'id' disagrees .*: 1 ids vs 3"),
        ("point_cloud", "data", np.zeros((3, 100, 3), np.float16),
         r"point_cloud\.h5: dataset 'data' has shape \(3, 100, 3\), expected \(N, 76800, 3\)"),
    ],
)
def test_bad_layout_names_file_key_and_shapes(tmp_path, kind, key, value, message):
    write_itop(tmp_path, "side", "test")
    with h5py.File(itop_path(tmp_path, "side", "test", kind), "a") as f:
        del f[key]
        f[key] = value
    with pytest.raises(RefinetError, match=message):
        ItopSplit(tmp_path, "side", "test")


def test_bad_ids(tmp_path):
    write_itop(tmp_path, "side", "test", frames=(("0200000", 1),))
    with pytest.raises(RefinetError, match=r"labels\.h5: id '0200000' is not 'subject_frame'"):
        ItopSplit(tmp_path, "side", "test")


def test_empty_splits_say_why(tmp_path):
    write_itop(tmp_path, "side", "train", frames=(("00_00000", 1), ("04_00000", 0), ("07_00000", 1)))
    with pytest.raises(RefinetError, match=r"split 'val' .* has no frames: subjects 04/05 not present "
                                           r"among valid frames \(found 00, 07\)"):
        ItopSplit(tmp_path, "side", "val")
    write_itop(tmp_path, "side", "test", frames=(("02_00000", 0), ("02_00001", 0)))
    with pytest.raises(RefinetError, match=r"split 'test' .* all 2 frames of .*labels\.h5 have is_valid ="):
        ItopSplit(tmp_path, "side", "test")
    write_itop(tmp_path / "b", "side", "train", frames=(("04_00000", 1), ("05_00000", 1)))
    with pytest.raises(RefinetError, match="split 'train' .* only the validation subjects 04/05"):
        ItopSplit(tmp_path / "b", "side", "train")


# -- writer ------------------------------------------------------------------------------
SMALL = Camera("small", 64, 48, 55.0, 54.0, 31.5, 23.25)


def synthetic_batch(first: int, n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed + first)
    depth = rng.uniform(1.5, 4.0, (n, SMALL.height, SMALL.width))
    depth[:, :, :3] = 0.0
    uv = rng.uniform(5, 40, (n, 15, 2))
    z = rng.uniform(2.0, 3.0, (n, 15))
    return {
        "ids": [f"{(first + k) % 3:02d}_{first + k:05d}" for k in range(n)],
        "depth_m": depth,
        "joints_m": SMALL.deproject(uv, z),
        "uv_px": uv,
        "visible": rng.random((n, 15)) > 0.3,
        "segmentation": rng.integers(-1, 15, (n, SMALL.height, SMALL.width)).astype(np.int8),
    }


def test_writer_round_trip(tmp_path):
    batches = [synthetic_batch(0, 3), synthetic_batch(3, 4)]
    with ItopWriter(tmp_path, "side", "test", SMALL, with_point_cloud=True, attrs={"seed": 7}) as writer:
        writer.append(**batches[0], is_valid=np.array([True, True, False]))
        writer.append(**batches[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in writer.final_paths)
    assert Camera.from_json(tmp_path / "camera.json") == SMALL
    keep = [0, 1, 3, 4, 5, 6]  # row 2 is invalid
    want = {k: np.concatenate([np.asarray(b[k]) for b in batches])[keep] for k in batches[0]}
    with ItopSplit(tmp_path, "side", "test") as ds:
        assert ds.ids == want["ids"].tolist() and ds.camera == SMALL
        np.testing.assert_allclose(ds.joints_m, want["joints_m"], rtol=1e-6)
        np.testing.assert_array_equal(ds.uv_px, want["uv_px"].astype(np.float32))  # sub-pixel kept
        np.testing.assert_array_equal(ds.visible, want["visible"])
        np.testing.assert_allclose(ds.depth_batch(0, len(ds)), want["depth_m"], atol=F16_ATOL)
        np.testing.assert_allclose(ds.point_cloud(1), SMALL.depth_to_points(ds.depth(1)), atol=F16_ATOL)
        assert ds.attrs["seed"] == 7 and ds.attrs["generator"] == "refinet-edge"
    with h5py.File(itop_path(tmp_path, "side", "test", "labels")) as f:
        assert f["image_coordinates"].dtype == np.float32 and f["segmentation"].dtype == np.int8
        assert f["real_world_coordinates"][0, 0, 1] == np.float32(-want["joints_m"][0, 0, 1])  # y up on disk
        np.testing.assert_array_equal(f["segmentation"][3], batches[1]["segmentation"][0])
    with h5py.File(itop_path(tmp_path, "side", "test", "depth_map")) as f:
        assert f["data"].dtype == np.float16 and f["data"].chunks == (1, 48, 64)
        assert f["data"].compression == "gzip" and f.attrs["view"] == "side"


def test_writer_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="boom"), ItopWriter(out, "side", "train", SMALL,
                                                             with_point_cloud=True) as w:
        w.append(**synthetic_batch(0, 2))
        assert len(list(out.iterdir())) == 3  # temporary files while writing
        raise ValueError("boom")
    assert not out.exists()
    with pytest.raises(KeyboardInterrupt), ItopWriter(tmp_path, "side", "train", SMALL) as w:
        w.append(**synthetic_batch(0, 2))
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_bad_input(tmp_path):
    with ItopWriter(tmp_path, "side", "train", SMALL) as w:
        w.append(**synthetic_batch(0, 1))
        batch = synthetic_batch(1, 2)
        for key, value, message in [
            ("depth_m", batch["depth_m"][:, :10], r"depth_m has shape \(2, 10, 64\), expected \(2, 48, 64\)"),
            ("uv_px", batch["uv_px"][..., :1], r"uv_px has shape \(2, 15, 1\), expected \(2, 15, 2\)"),
            ("ids", ["0_1", "00_00002"], "id '0_1' is not 'SS_FFFFF'"),
            ("segmentation", batch["segmentation"] * 1.5, "segmentation must be int8 labels"),
            ("depth_m", -batch["depth_m"], "depth_m must be finite and >= 0"),
        ]:
            with pytest.raises(RefinetError, match=message):
                w.append(**{**batch, key: value})
    with ItopSplit(tmp_path, "side", "train") as ds:
        assert len(ds) == 1  # the refused batches wrote nothing


def test_writer_one_camera_per_directory_and_no_silent_overwrite(tmp_path):
    with ItopWriter(tmp_path, "side", "train", SMALL) as w:
        w.append(**synthetic_batch(0, 1))
    other = Camera("other", 64, 48, 60.0, 54.0, 31.5, 23.25)
    with pytest.raises(RefinetError, match=r"camera\.json holds other intrinsics \(fx 55\.0 vs 60\.0\)"):
        ItopWriter(tmp_path, "side", "test", other).__enter__()
    with pytest.raises(RefinetError, match=r"ITOP_side_train_depth_map\.h5, ITOP_side_train_labels\.h5 al"):
        ItopWriter(tmp_path, "side", "train", SMALL).__enter__()
    with ItopWriter(tmp_path, "side", "train", SMALL, with_point_cloud=True, overwrite=True) as w:
        w.append(**synthetic_batch(5, 2))
    with ItopWriter(tmp_path, "side", "train", SMALL, overwrite=True) as w:
        w.append(**synthetic_batch(7, 3))
    assert not itop_path(tmp_path, "side", "train", "point_cloud").exists()  # stale cloud dropped
    assert len(ItopSplit(tmp_path, "side", "train")) == 3
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_writer_without_frames_saves_nothing(tmp_path):
    with pytest.raises(RefinetError, match="no frames appended .* nothing saved"):
        with ItopWriter(tmp_path / "out", "top", "test", SMALL):
            pass
    assert not (tmp_path / "out").exists()


def test_writer_bad_arguments(tmp_path):
    with pytest.raises(RefinetError, match=r"file split 'val'; valid: train, test"):
        ItopWriter(tmp_path, "side", "val", SMALL)
    with pytest.raises(RefinetError, match="needs a Camera"):
        ItopWriter(tmp_path, "side", "test", "itop_side")  # type: ignore[arg-type]
    with pytest.raises(RefinetError, match=r"attrs\['bad'\]"), ItopWriter(tmp_path, "side", "test", SMALL,
                                                                          attrs={"bad": {"a": 1}}):
        pass
    assert list(tmp_path.iterdir()) == []


def test_itop_path_names(tmp_path):
    assert itop_path(tmp_path, "top", "train", "point_cloud") == tmp_path / "ITOP_top_train_point_cloud.h5"
    with pytest.raises(RefinetError, match="file kind 'depth'"):
        itop_path(tmp_path, "top", "train", "depth")
