# ctest python_pip_install: `pip install --no-build-isolation` of a copy of
# the source tree into a throw-away venv that sees Debian's packages (offline:
# setuptools and wheel come from Debian), then imports the installed package
# from elsewhere and loads a pickle through it. With -DOTHER_PYTHON (another
# Python of the same version, e.g. pyenv's), the same into a venv of that
# interpreter that sees none of Debian's packages, given setuptools and wheel
# from Debian's wheel files as docs/services.md says (the build is reused:
# the same version builds the same module).
#   cmake -DPYTHON=/usr/bin/python3 [-DOTHER_PYTHON=...] -DSOURCE_DIR=... -DWORK_DIR=... -P test_pip_install.cmake
include(${CMAKE_CURRENT_LIST_DIR}/test_script_steps.cmake)
require_defined(PYTHON SOURCE_DIR WORK_DIR)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/src)
# What the Python build needs; a copy, so the build leaves the source tree alone.
foreach(item CMakeLists.txt pyproject.toml setup.py)
  file(COPY ${SOURCE_DIR}/${item} DESTINATION ${WORK_DIR}/src)
endforeach()
foreach(dir cmake lib policies python tools)
  file(COPY ${SOURCE_DIR}/${dir} DESTINATION ${WORK_DIR}/src PATTERN __pycache__ EXCLUDE)
endforeach()

run(${PYTHON} -m venv --system-site-packages ${WORK_DIR}/venv)
set(venv_python ${WORK_DIR}/venv/bin/python)
run(${venv_python} -m pip install --no-build-isolation --no-index --no-deps --quiet ${WORK_DIR}/src)
set(venvs ${WORK_DIR}/venv)
if(OTHER_PYTHON)
  run(${OTHER_PYTHON} -m venv ${WORK_DIR}/other-venv)
  file(GLOB build_wheels /usr/share/python-wheels/setuptools-*.whl /usr/share/python-wheels/wheel-*.whl)
  run(${WORK_DIR}/other-venv/bin/python -m pip install --no-index --quiet ${build_wheels})
  run(${WORK_DIR}/other-venv/bin/python -m pip install --no-build-isolation --no-index --no-deps --quiet
      ${WORK_DIR}/src)
  list(APPEND venvs ${WORK_DIR}/other-venv)
endif()
file(WRITE ${WORK_DIR}/check.py [=[
import pickle, pathlib, sys
import pickleguard
where = pathlib.Path(pickleguard.__file__).resolve()
assert pathlib.Path(sys.prefix).resolve() in where.parents, (where, sys.prefix)
value = {"a": [1, 2.5, "x"], "b": {3}}
assert pickleguard.loads(pickle.dumps(value, protocol=4)) == value
try:
    pickleguard.loads(b"cos\nsystem\n(S'true'\ntR.")
except pickleguard.UnsafePickleError as e:
    assert not e.report.safe
else:
    sys.exit("os.system was not refused")
print("installed pickleguard", pickleguard.__version__, "at", where.parent)
]=])
foreach(venv IN LISTS venvs)
  run(${venv}/bin/python -I ${WORK_DIR}/check.py WORKING_DIRECTORY ${WORK_DIR})
endforeach()
