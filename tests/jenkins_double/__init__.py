"""An HTTP-level double of the Jenkins REST API, for tests (no real Jenkins can run on these machines).

**Behaviour followed: Jenkins 2.479.3 LTS** (``X-Jenkins: 2.479.3``) with cloudbees-folder, workflow-job and the
other plugins in :func:`plugins.default_installed`, read from Jenkins core's source at tag ``jenkins-2.479.3``
(ItemGroupMixIn, AbstractItem, Job, ParameterizedJobMixIn, CrumbFilter, DefaultCrumbIssuer, BasicHeaderProcessor,
PluginManager, RemotingDiagnostics) and Stapler's export package. It is what python-jenkins 1.8.3 and
jenkins-job-builder 6.5.0 talk to, and it is strict where Jenkins is:

- auth and CSRF (:mod:`.security`): API token or password over basic auth, 401 for bad credentials, 403 for
  anonymous read (denied by default) and missing permissions; crumbs bound to user + session, required on POST
  except for API-token requests (as since Jenkins 2.96);
- items (:mod:`.items`, :mod:`.state`, :mod:`.item_routes`): folders, ``createItem`` (XML, ``mode=``, copy) with
  Jenkins' name checks and messages (400 with ``X-Error``), 404 for a missing folder, 500 for malformed XML or an
  unknown item type; ``config.xml`` round trip **re-serialised as Jenkins does** (:mod:`.xmlconfig`: posted XML is
  stored as the JDK identity transform writes it, Jenkins' own saves as XStream writes them, so GET never simply
  echoes what was posted); enable/disable, doDelete, doRename/confirmRename, description;
- remote API (:mod:`.exported`, :mod:`.beans`): ``api/json`` with ``depth`` and ``tree`` pruning like Stapler;
- queue and builds (:mod:`.queue`), plugin manager and install requests (:mod:`.plugins`), script console
  (:mod:`.script`), request log and fault injection (:mod:`.log`).

Known, deliberate differences (see each module): the quiet period defaults to 0 s (Jenkins: 5 s) and builds finish
at once unless held; left queue items are kept forever; only the JSON flavour of the API exists (``api/xml`` and
``api/python`` answer 404); views, nodes, credentials and the UI's form submissions are not modelled; the script
console runs only a few known statements; items are visible to anyone with Job/Read (no per-item ACLs); XStream
saves reformat the posted XML instead of writing the Java object, so they neither add nor drop fields.
"""

from __future__ import annotations

from tests.jenkins_double.log import Fault, LoggedRequest, RequestLog
from tests.jenkins_double.server import JenkinsDouble
from tests.jenkins_double.web import JENKINS_VERSION

__all__ = ["JENKINS_VERSION", "Fault", "JenkinsDouble", "LoggedRequest", "RequestLog"]
